import { main } from '../../src/cli/main.js';

/** What a CLI run printed, and its exit status. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the command line in this process (`main` with captured output), as a terminal when `isTTY`. */
export async function runCli(argv: string[], isTTY = false): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    isTTY,
  });
  return { code, stdout, stderr };
}
