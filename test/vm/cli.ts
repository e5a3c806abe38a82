// `npx tsx test/vm/cli.ts [-w DIR]... [-t SECS] -- COMMAND...`: runInVm from a shell, output
// streamed, the command's exit status as ours.
import { runInVm, VmError } from './run-in-vm.ts';

const argv = process.argv.slice(2);
const writable: string[] = [];
let timeoutSeconds: number | undefined;
while (argv.length > 0 && argv[0] !== '--') {
  const opt = argv.shift();
  const value = argv.shift();
  if (value === undefined) throw new Error(`${opt} needs a value`);
  if (opt === '-w') writable.push(value);
  else if (opt === '-t') timeoutSeconds = Number(value);
  else throw new Error(`unknown option ${opt}; usage: cli.ts [-w DIR]... [-t SECS] -- COMMAND...`);
}
argv.shift();
try {
  const r = await runInVm(argv, {
    writable,
    timeoutSeconds,
    onStdout: (s) => process.stdout.write(s),
    onStderr: (s) => process.stderr.write(s),
  });
  process.exitCode = r.code;
} catch (err) {
  process.exitCode = err instanceof VmError ? err.result.code : 125;
  if (!(err instanceof VmError)) throw err;
}
