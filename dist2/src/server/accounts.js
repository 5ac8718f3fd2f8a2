import { LoftError } from '../shared/errors.js';
import { hashToken, newToken } from './tokens.js';
const DEVICE_NAME_RE = /^[^\0/\n\r]{1,64}$/;
export async function addDevice(store, clock, userName, options) {
    const now = clock.now();
    let user = await store.findUser(userName);
    if (!user) {
        if (!options.createUser)
            throw new LoftError('NOT_FOUND', `no user ${userName}`);
        user = await store.createUser(userName, now);
    }
    else if (options.createUser) {
        throw new LoftError('EXISTS', `user ${userName} already exists (use "loft user token" for another device)`);
    }
    const device = options.device ?? `${userName}-device`;
    if (!DEVICE_NAME_RE.test(device))
        throw new LoftError('BAD_REQUEST', 'device name must be 1-64 characters without "/"');
    const token = newToken();
    const expiresAt = options.ttlMs === undefined ? null : now + options.ttlMs;
    const deviceId = await store.addDevice(user.id, device, hashToken(token), expiresAt, now);
    return { userId: user.id, deviceId, token };
}
//# sourceMappingURL=accounts.js.map