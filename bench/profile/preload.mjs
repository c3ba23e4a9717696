// Preloaded (`node --import`) into a farm process by bench:farm-cpu --cpu-profile: samples its
// JavaScript with the inspector's profiler and writes <dir>/<command>-<pid>.cpuprofile when the
// process exits (or is stopped by SIGTERM/SIGINT). The directory is $KILN_CPU_PROFILE_DIR.
import inspector from 'node:inspector';
import process from 'node:process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.KILN_CPU_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 250 });
  session.post('Profiler.start');
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    // An in-process session answers synchronously, so this works inside an 'exit' handler.
    session.post('Profiler.stop', (err, r) => {
      if (err) return;
      const name = `${process.argv[2] ?? 'node'}-${process.pid}.cpuprofile`.replace(/[^\w.-]/g, '_');
      writeFileSync(join(dir, name), JSON.stringify(r.profile));
    });
  };
  process.on('exit', write);
  for (const sig of ['SIGTERM', 'SIGINT']) {
    const onSignal = () => {
      write();
      // Alone, this listener would keep the process alive: then the signal does what it would have.
      if (process.listenerCount(sig) > 1) return;
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.prependListener(sig, onSignal);
  }
}
