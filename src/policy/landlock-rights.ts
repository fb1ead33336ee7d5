// Landlock access rights (kernel uapi values) and which ABI brought each one. Mirrors
// shim/landlock_compat.h; the C side only applies masks computed here.
export const FS = {
  EXECUTE: 1 << 0,
  WRITE_FILE: 1 << 1,
  READ_FILE: 1 << 2,
  READ_DIR: 1 << 3,
  REMOVE_DIR: 1 << 4,
  REMOVE_FILE: 1 << 5,
  MAKE_CHAR: 1 << 6,
  MAKE_DIR: 1 << 7,
  MAKE_REG: 1 << 8,
  MAKE_SOCK: 1 << 9,
  MAKE_FIFO: 1 << 10,
  MAKE_BLOCK: 1 << 11,
  MAKE_SYM: 1 << 12,
  REFER: 1 << 13, // ABI 2
  TRUNCATE: 1 << 14, // ABI 3
  IOCTL_DEV: 1 << 15, // ABI 5
} as const;

export const NET = { BIND_TCP: 1 << 0, CONNECT_TCP: 1 << 1 } as const; // ABI 4
export const SCOPE = { ABSTRACT_UNIX_SOCKET: 1 << 0, SIGNAL: 1 << 1 } as const; // ABI 6
export const RESTRICT_SELF_LOG_NEW_EXEC_ON = 1 << 1; // ABI 7

/** Every filesystem right the given ABI can restrict. */
export function handledFsForAbi(abi: number): number {
  let mask = (1 << 13) - 1; // ABI 1: EXECUTE..MAKE_SYM
  if (abi >= 2) mask |= FS.REFER;
  if (abi >= 3) mask |= FS.TRUNCATE;
  if (abi >= 5) mask |= FS.IOCTL_DEV;
  return mask;
}

export const READ_RIGHTS = FS.EXECUTE | FS.READ_FILE | FS.READ_DIR;
/** Read-write means everything, including remove and rename (atomic saves need them). */
export const READ_WRITE_RIGHTS = (1 << 16) - 1;
export const DEVICE_RIGHTS = FS.READ_FILE | FS.WRITE_FILE | FS.TRUNCATE | FS.IOCTL_DEV;

export function describeRights(rights: number): string {
  if ((rights & READ_WRITE_RIGHTS) === READ_WRITE_RIGHTS) return 'read-write';
  if (rights === READ_RIGHTS) return 'read';
  if (rights === DEVICE_RIGHTS) return 'device read-write';
  return `0x${rights.toString(16)}`;
}
