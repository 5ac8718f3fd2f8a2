/**
 * The steps test/integration/drive-allow-other.test.ts runs on ext4 and on the drive, in order,
 * each in the folder under test: what root sets up, what the other user then tries (reads and
 * writes by mode bits, creating, chmod, chown, utimensat), and stats of everything afterwards.
 */
export interface Step {
  name: string;
  as: 'root' | 'user';
  /** A shell command run in the folder under test. */
  sh: string;
  /** A stat step: its output is compared, not only its status. */
  stat?: boolean;
}

/** Owner, group, mode, type (and for chosen files times and content): what must match ext4. */
const statOf = (name: string, times = false): Step => ({
  name: `stat ${name}`,
  as: 'root',
  sh: `stat -c '%u %g %a %F${times ? ' %X %Y' : ''}' ${name}`,
  stat: true,
});

export function ownershipScript(u: { uid: number; gid: number; group: number; other: number }): Step[] {
  const root = (name: string, sh: string): Step => ({ name, as: 'root', sh });
  const user = (name: string, sh: string): Step => ({ name, as: 'user', sh });
  return [
    root(
      'setup',
      [
        'umask 022',
        'echo everyone > open.txt && chmod 644 open.txt',
        'echo secret > private.txt && chmod 600 private.txt',
        'echo shared > shared.txt && chmod 666 shared.txt',
        `echo group > group.txt && chmod 660 group.txt && chgrp ${u.gid} group.txt`,
        'mkdir drop closed sg && chmod 777 drop && chmod 755 closed',
        `chgrp ${u.other} sg && chmod 2777 sg`,
        'echo given > given.txt && chmod 644 given.txt',
        'echo suid > suid.txt && chmod 6755 suid.txt',
      ].join(' && '),
    ),
    // Reads and writes exactly as the mode bits allow.
    user('read-0644', 'cat open.txt'),
    user('read-0600', 'cat private.txt'),
    user('append-0644', 'echo more >> open.txt'),
    user('append-0666', 'echo more >> shared.txt'),
    user('append-0660-own-group', 'echo more >> group.txt'),
    user('create-in-0755', 'echo new > closed/new.txt'),
    user('remove-from-0755', 'rm -f open.txt'),
    // What the user creates is its own (uid, primary gid), or the folder's group when set-group-ID.
    user('create-in-0777', 'umask 022 && echo mine > drop/mine.txt'),
    user('mkdir-in-0777', 'umask 022 && mkdir drop/mydir'),
    user('symlink-in-0777', 'ln -s mine.txt drop/link'),
    user('create-in-setgid', 'umask 022 && echo s > sg/in-sg.txt'),
    user('mkdir-in-setgid', 'umask 022 && mkdir sg/subdir'),
    // chmod: only the owner.
    user('chmod-own', 'chmod 640 drop/mine.txt'),
    user('chmod-not-owner', 'chmod 777 open.txt'),
    user('chmod-own-dir-setgid', 'chmod 2750 drop/mydir'),
    // chown: not to another uid; chgrp only to a group the user is in.
    user('chown-same-uid', `chown ${u.uid} drop/mine.txt`),
    user('chown-to-root', 'chown 0 drop/mine.txt'),
    user('chgrp-supplementary', `chgrp ${u.group} drop/mine.txt`),
    user('chgrp-not-member', `chgrp ${u.other} drop/mine.txt`),
    user('chgrp-not-owner', `chgrp ${u.gid} shared.txt`),
    // utimensat: explicit times only by the owner; "now" by anyone who may write.
    user(
      'utimes-explicit-owner',
      'touch -m -d @1000000000 drop/mine.txt && touch -a -d @1000000007 drop/mine.txt',
    ),
    user('utimes-explicit-not-owner', 'touch -d @1000000000 shared.txt'),
    user('utimes-now-writable', 'touch shared.txt'),
    user('utimes-now-read-only', 'touch -c open.txt'),
    // Root gives files away; chown clears set-user-ID and set-group-ID, as on ext4.
    root('root-chown', `chown ${u.uid}:${u.gid} given.txt && chown ${u.uid} suid.txt`),
    user('chmod-given', 'chmod 600 given.txt'),
    user('read-given', 'cat given.txt'),
    user('append-given', 'echo more >> given.txt'),
    // What everything looks like afterwards.
    ...['open.txt', 'private.txt', 'shared.txt', 'group.txt', 'given.txt', 'suid.txt'].map((n) => statOf(n)),
    ...['drop', 'closed', 'sg', 'drop/mydir', 'drop/link', 'sg/in-sg.txt', 'sg/subdir'].map((n) => statOf(n)),
    statOf('drop/mine.txt', true),
    {
      name: 'content',
      as: 'root',
      sh: 'cat open.txt shared.txt group.txt given.txt drop/mine.txt',
      stat: true,
    },
    { name: 'listing', as: 'root', sh: 'ls -A . drop closed sg', stat: true },
  ];
}
