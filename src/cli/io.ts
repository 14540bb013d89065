/** Where a command writes: injectable so that tests can run commands in-process. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal (progress bars) or a log (one line per sweep). */
  isTTY: boolean;
}

/** A subcommand: parses its own arguments, returns the exit code. */
export type Command = (argv: string[], io: CliIO) => Promise<number>;

/** Standard output and error of the Node process. */
export function nodeIO(): CliIO {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    isTTY: Boolean(process.stderr.isTTY),
  };
}
