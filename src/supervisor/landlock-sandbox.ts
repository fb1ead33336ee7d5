// The Linux sandbox backend: a Landlock ruleset built once from the compiled policy; every command
// enters a new domain made from it (landlock_restrict_self creates a fresh domain on each call).
import type { ConnectGuardOptions, LiveRules, NativeAddon } from '../native/addon.js';
import type { CompiledLandlock } from '../policy/landlock-compiler.js';
import { policyDigest } from './audit-log.js';

export interface CommandSandbox {
  rulesetFd: number;
  compiled: CompiledLandlock;
  /** Short digest of the compiled rules, for the audit log. */
  digest: string;
  /** Proxy mode: spawn passes it on as `connectGuard` (the command reaches only the proxy and these ports). */
  connectGuard?: ConnectGuardOptions;
  /** Live approval: these rules, for the native fast path (the same the ruleset was built from). */
  liveRules?: LiveRules;
  close(): void;
}

export function buildCommandSandbox(
  addon: NativeAddon,
  compiled: CompiledLandlock,
  opts: { connectGuard?: ConnectGuardOptions; live?: boolean } = {},
): CommandSandbox {
  // Refused here, once, rather than at every command: proxy mode without the guard would let
  // commands reach any host on the proxy's port.
  if (opts.connectGuard && !addon.connectGuardSupported()) throw new Error(connectGuardUnavailableMessage());
  const fd = addon.createRuleset({
    handledFs: compiled.handledFs,
    handledNet: compiled.handledNet,
    scoped: compiled.scoped,
  });
  try {
    for (const rule of compiled.rules) {
      try {
        addon.addPathRule(fd, rule.path, rule.rights, compiled.handledFs);
      } catch (e) {
        // Vanished since compilation: it grants nothing, which is the safe direction.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    for (const p of compiled.tcpPorts) addon.addPortRule(fd, p.port, p.rights);
  } catch (e) {
    addon.closeFd(fd);
    throw e;
  }
  return {
    rulesetFd: fd,
    compiled,
    digest: policyDigest(compiled),
    ...(opts.live ? { liveRules: addon.liveRules(compiled.rules.map((r) => [r.path, r.rights]), compiled.handledFs) } : {}),
    ...(opts.connectGuard ? { connectGuard: { ...opts.connectGuard, loopbackPorts: [...opts.connectGuard.loopbackPorts] } } : {}),
    close: () => addon.closeFd(fd),
  };
}

export function landlockUnavailableMessage(): string {
  return (
    'nono: this kernel does not offer Landlock (or it is disabled), so commands cannot be sandboxed. ' +
    'nono refuses to run them unsandboxed. Use Linux >= 5.13 with Landlock enabled ' +
    '(CONFIG_SECURITY_LANDLOCK=y, "landlock" in the lsm= boot parameter).'
  );
}

export function connectGuardUnavailableMessage(): string {
  return (
    'nono: this kernel cannot check where commands connect (the connect guard needs Linux >= 6.9: ' +
    'seccomp user notifications, pidfd_getfd and thread pidfds, plus Landlock TCP rules), so commands ' +
    'whose network goes through the proxy cannot be confined to it. nono refuses to run them unguarded.'
  );
}
