import { LoftError } from '../../shared/errors.js';
import { control, mountOf } from '../control-client.js';
async function run(verb, files, state) {
    const targets = files.map((f) => mountOf(f, state));
    const mount = targets[0].mount;
    if (targets.some((t) => t.mount.pid !== mount.pid))
        throw new LoftError('BAD_REQUEST', 'paths are in different drives');
    await control(mount, 'POST', `/${verb}`, { paths: targets.map((t) => t.inner) });
    process.stdout.write(verb === 'pin'
        ? `pinned ${files.length} path(s); downloading in the background ("loft status" shows progress)\n`
        : `unpinned ${files.length} path(s); their space is free to reuse\n`);
}
export function registerPin(program) {
    program
        .command('pin <paths...>')
        .description('keep files available offline (directories: everything below, now and later)')
        .option('--state <dir>', 'state directory of the mount (env LOFT_STATE)')
        .action((paths, opts) => run('pin', paths, opts.state));
    program
        .command('unpin <paths...>')
        .description('make files online-only again: their cached blocks may be evicted')
        .option('--state <dir>', 'state directory of the mount (env LOFT_STATE)')
        .action((paths, opts) => run('unpin', paths, opts.state));
}
//# sourceMappingURL=pin.js.map