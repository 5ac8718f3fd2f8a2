/**
 * One rule for flags from the environment (issue 13 item 6): every flag `--some-name` of every
 * command can also be given as `LOFT_SOME_NAME` (its `--help` line says so); the command line wins.
 * An empty value is the same as no variable, and a yes/no flag is on only for `1`, `true` or `yes`
 * (so `LOFT_JSON=0` does not turn `--json` on, as mere presence would in commander).
 */
import { Command, type Option } from 'commander';

const NOT_FLAGS = new Set(['--help', '--version']);
/**
 * Flags whose variable the code reads itself, in an order commander cannot express: LOFT_TOKEN comes
 * after --token-file and LOFT_TOKEN_FILE (credentials.ts), so it must not fill --token.
 */
export const READ_BY_CODE = new Set(['--token']);
const YES = new Set(['1', 'true', 'yes']);

/** `--tls-cert` → `LOFT_TLS_CERT`. */
export function envNameOf(long: string): string {
  return 'LOFT_' + long.replace(/^--/, '').replace(/-/g, '_').toUpperCase();
}

/** A commander Command whose every flag, and every subcommand's, reads its LOFT_ variable. */
export class LoftCommand extends Command {
  override createCommand(name?: string): Command {
    return new LoftCommand(name);
  }

  override createOption(flags: string, description?: string): Option {
    const opt = super.createOption(flags, description);
    if (opt.long && !NOT_FLAGS.has(opt.long) && !READ_BY_CODE.has(opt.long)) opt.env(envNameOf(opt.long));
    return opt;
  }
}

/** Applies the rule for empty and yes/no values to `env`, for every flag of `cmd` and below. */
export function applyEnvRule(cmd: Command, env: NodeJS.ProcessEnv = process.env): void {
  for (const opt of cmd.options as readonly Option[]) {
    if (!opt.envVar) continue;
    const value = env[opt.envVar];
    const takesValue = opt.required || opt.optional;
    if (value !== undefined && (takesValue ? value === '' : !YES.has(value.toLowerCase())))
      delete env[opt.envVar];
  }
  for (const sub of cmd.commands) applyEnvRule(sub, env);
}
