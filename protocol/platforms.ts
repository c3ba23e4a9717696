/** The platforms builders run on (`os-arch`): a job names one, a toolchain preset is published for one. */
export const PLATFORMS = ['linux-x86_64', 'linux-aarch64', 'freebsd-amd64', 'freebsd-aarch64'] as const;
export type Platform = (typeof PLATFORMS)[number];
