// The session's command policy as it evolves: the resolved profile, plus grants the user gave for
// this session (a prompt's "allow for the session"). Compiles and builds the Landlock ruleset, and
// builds one-off rulesets for a single re-run ("allow once") without touching the session's.
import path from 'node:path';
import type { NativeAddon } from '../native/addon.js';
import { COMMAND_SCOPES, compileLandlock, isInside, type CompiledLandlock } from '../policy/landlock-compiler.js';
import type { Grant as PolicyGrant, ResolvedPolicy } from '../policy/resolved-policy.js';
import type { Denial, Grant } from './denials/types.js';
import { explainLandlock, OPERATIONS, type Operation } from '../policy/explain-landlock.js';
import { buildCommandSandbox, type CommandSandbox } from './landlock-sandbox.js';
import type { PlatformPolicy } from './platform/types.js';
import type { HeldOperation } from './live-questions.js';

/** Whether the compiled rules grant every right a held operation needs (live approval: a grant
 * made since the command started). Landlock's rules only allow (a deny is a hole the compiler
 * leaves), so the rights at a path are those of every rule on it or an ancestor. */
export function heldAllowed(c: CompiledLandlock, h: HeldOperation): boolean {
  const rightsAt = (p: string) => c.rules.reduce((acc, r) => (isInside(p, r.path) ? acc | r.rights : acc), 0);
  const has = (p: string, need: number) => (rightsAt(p) & need & c.handledFs) === (need & c.handledFs);
  const onParent = h.op === 'create' || h.op === 'delete' || h.op === 'rename';
  if (!has(onParent ? path.dirname(h.path) : h.path, h.need)) return false;
  return h.path2 === undefined || !h.need2 || has(path.dirname(h.path2), h.need2);
}

/** A prompt's grant, as policy: explicit, so it may re-allow a path inside a denied directory. */
export function applyGrants(policy: ResolvedPolicy, grants: readonly Grant[], source: string): ResolvedPolicy {
  const extra: PolicyGrant[] = [];
  const network = { ...policy.network, tcpConnect: [...policy.network.tcpConnect], tcpBind: [...policy.network.tcpBind] };
  for (const g of grants) {
    const add = (kind: 'dir' | 'file', access: PolicyGrant['access']) => extra.push({ path: g.path!, kind, access, source, explicit: true });
    switch (g.kind) {
      case 'read_file': add('file', 'read'); break;
      case 'read': add('dir', 'read'); break;
      case 'write_file': add('file', 'write'); break;
      case 'allow_file': add('file', 'readwrite'); break;
      case 'allow': add('dir', 'readwrite'); break;
      case 'tcp_connect': network.tcpConnect.push(g.port!); break;
      case 'tcp_bind': network.tcpBind.push(g.port!); break;
      case 'tcp': network.blockTcp = false; break;
    }
  }
  return { ...policy, grants: [...policy.grants, ...extra], network };
}

/** The filesystem operation a denial stands for, as explainLandlock knows it (which right on the
 * path or, for create, delete and rename, on its parent directory); undefined for the network. */
function fsOperation(d: Denial): Operation | undefined {
  return OPERATIONS.find((o) => o === d.op);
}

/**
 * Whether the compiled rules allow a denial's filesystem operation. A rename that names its
 * destination (path2) needs the entry removed from the source's directory and made in the
 * destination's; across directories Landlock also wants REFER, which is not judged here: false.
 */
export function landlockAllows(c: CompiledLandlock, d: Denial & { path2?: string }): boolean {
  const op = fsOperation(d);
  if (op === undefined || d.path === undefined) return false;
  if (op !== 'rename' || d.path2 === undefined) return explainLandlock(c, d.path, op).allowed;
  const from = explainLandlock(c, d.path, 'delete');
  const to = explainLandlock(c, d.path2, 'create');
  return from.allowed && to.allowed && path.dirname(from.path) === path.dirname(to.path);
}

export class CommandPolicy implements PlatformPolicy<CommandSandbox> {
  private sandbox: CommandSandbox;
  private policy: ResolvedPolicy;

  constructor(
    private readonly addon: NativeAddon,
    policy: ResolvedPolicy,
    private readonly abi: number,
    /** Live approval: every sandbox also carries its rules for the native fast path. */
    readonly live = false,
  ) {
    this.policy = policy;
    this.sandbox = this.build(policy);
  }

  private build(policy: ResolvedPolicy): CommandSandbox {
    return buildCommandSandbox(this.addon, compileLandlock(policy, { abi: this.abi, scoped: COMMAND_SCOPES }), { live: this.live });
  }

  get current(): CommandSandbox {
    return this.sandbox;
  }

  get resolved(): ResolvedPolicy {
    return this.policy;
  }

  /**
   * Whether each grant really allows its denial: Landlock cannot allow creating entries directly
   * in a directory that holds a protected path (that right would reach the protected path too),
   * so such a grant would change nothing and must not be offered.
   */
  grantsThatWork(denials: readonly Denial[], grants: readonly Grant[]): boolean[] {
    const trial = compileLandlock(applyGrants(this.policy, grants, 'trial'), { abi: this.abi, scoped: COMMAND_SCOPES });
    // What cannot be judged (network denials) is offered: the re-run shows whether it worked.
    return denials.map((d) => d.path === undefined || fsOperation(d) === undefined || landlockAllows(trial, d));
  }

  allows(h: HeldOperation): boolean {
    return heldAllowed(this.sandbox.compiled, h);
  }

  directPorts(): readonly number[] {
    return this.sandbox.compiled.connectGuard?.loopbackPorts ?? [];
  }

  /** A sandbox for one run with extra grants; the caller closes it once the command started. */
  oneOff(grants: readonly Grant[]): CommandSandbox {
    return this.build(applyGrants(this.policy, grants, 'granted at a prompt (once)'));
  }

  /** From now on, every command of the session gets these grants too. */
  addSessionGrants(grants: readonly Grant[], source = 'granted at a prompt (session)'): void {
    const next = applyGrants(this.policy, grants, source);
    const sandbox = this.build(next);
    // Safe to close: a ruleset is only read while a child enters its domain, before spawn returns.
    this.sandbox.close();
    this.sandbox = sandbox;
    this.policy = next;
  }

  close(): void {
    this.sandbox.close();
  }
}
