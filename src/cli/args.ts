/**
 * Argument parsing shared by the subcommands: `node:util` parseArgs plus typed accessors.
 * A malformed command line is a {@link UsageError} (exit code 2, the usage is printed);
 * a well-formed one with refused values (e.g. `-p 0`) reaches the library, which throws a
 * `WeightBalanceError` (exit code 1).
 */
import { parseArgs } from 'node:util';
import { WeightBalanceError } from '../errors.js';
import type { CliIO, Command } from './io.js';

/** A malformed command line: unknown option, missing value, not a number. */
export class UsageError extends WeightBalanceError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The options a command accepts, in parseArgs' form. */
export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/** A parsed command line. */
export interface ParsedArgs {
  values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  positionals: string[];
}

/**
 * Parse `argv` strictly against `options`; a parse failure becomes a {@link UsageError}, and so
 * does a single-valued option given twice (`-p 1 -p 2` is ambiguous: which one was meant?).
 */
export function parseCommandArgs(argv: string[], options: OptionSpec): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    // Node's message may span lines ('--lr -1' is ambiguous: its hint says to write '--lr=-1').
    throw new UsageError(error instanceof Error ? error.message.split('\n').join(' ') : String(error));
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || options[token.name]?.type !== 'string' || options[token.name].multiple) continue;
    if (seen.has(token.name)) throw new UsageError(`${optionLabel(token.name)} is given more than once`);
    seen.add(token.name);
  }
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
}

/** The value of a string option, or `undefined` when absent. */
export function stringArg(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** All values of a repeatable string option (empty when absent). */
export function stringListArg(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  if (Array.isArray(v)) return v.map(String);
  return typeof v === 'string' ? [v] : [];
}

/** Whether a boolean flag is set. */
export function flagArg(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Parse a number written on the command line (`1e-6`, `2`, `Infinity`); anything else is a {@link UsageError}. */
export function parseNumber(text: string, what: string): number {
  const trimmed = text.trim();
  const value = trimmed === '' ? NaN : Number(trimmed);
  if (Number.isNaN(value)) throw new UsageError(`${what}: expected a number, got '${text}'`);
  return value;
}

/** A numeric option, or `fallback` when absent. */
export function numberArg(args: ParsedArgs, name: string, fallback: number): number {
  const text = stringArg(args, name);
  return text === undefined ? fallback : parseNumber(text, optionLabel(name));
}

/** An integer option, or `fallback` when absent. */
export function integerArg(args: ParsedArgs, name: string, fallback: number): number {
  const value = numberArg(args, name, fallback);
  if (!Number.isSafeInteger(value)) throw new UsageError(`${optionLabel(name)}: expected an integer, got '${stringArg(args, name)}'`);
  return value;
}

/** An option restricted to a few words, or `fallback` when absent. */
export function choiceArg<T extends string>(args: ParsedArgs, name: string, choices: readonly T[], fallback: T): T {
  const text = stringArg(args, name);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${optionLabel(name)}: expected ${choices.map((c) => `'${c}'`).join(', ')}, got '${text}'`);
  }
  return text as T;
}

/** A comma-separated list of positive integers, e.g. `200,2500,1250,10`. */
export function parseSizes(text: string, what: string): number[] {
  const parts = text.split(/[,x-]/).map((s) => s.trim());
  const sizes = parts.map((s) => (/^[0-9]+$/.test(s) ? Number(s) : NaN));
  if (sizes.length < 2 || sizes.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
    throw new UsageError(`${what}: expected at least two positive integers like 200,2500,1250,10, got '${text}'`);
  }
  return sizes;
}

function optionLabel(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

/**
 * Make a {@link Command} from its usage text, its options and its body. Adds `--help`, turns a
 * {@link UsageError} into exit code 2 with the usage on stderr; other errors go to `main`.
 */
export function defineCommand(name: string, usage: string, options: OptionSpec, body: (args: ParsedArgs, io: CliIO) => Promise<number>): Command {
  return async (argv, io) => {
    try {
      const args = parseCommandArgs(argv, { ...options, help: { type: 'boolean', short: 'h' } });
      if (flagArg(args, 'help')) {
        io.out(`${usage}\n`);
        return 0;
      }
      return await body(args, io);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      io.err(`weight-balance ${name}: ${error.message}\n\n${usage}\n`);
      return 2;
    }
  };
}
