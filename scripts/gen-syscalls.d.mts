/** name → number of every syscall the compiler `cc`'s asm/unistd.h defines. */
export function syscallNumbers(cc: string): Record<string, number>;
