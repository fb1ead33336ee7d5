// The session's command policy as it evolves: the resolved profile, plus grants the user gave for
// this session (a prompt's "allow for the session"). Compiles and builds the Landlock ruleset, and
// builds one-off rulesets for a single re-run ("allow once") without touching the session's.
import type { NativeAddon } from '../native/addon.js';
import { COMMAND_SCOPES, compileLandlock } from '../policy/landlock-compiler.js';
import type { Grant as PolicyGrant, ResolvedPolicy } from '../policy/resolved-policy.js';
import type { Denial, Grant } from './denials/types.js';
import { explainLandlock } from '../policy/explain-landlock.js';
import { buildCommandSandbox, type CommandSandbox } from './landlock-sandbox.js';

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

export class CommandPolicy {
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
    return denials.map((d) => {
      if (d.path === undefined) return true;
      const op = (['read', 'list', 'write', 'create', 'delete', 'rename', 'execute'] as const).find((o) => o === d.op);
      return op === undefined || explainLandlock(trial, d.path, op).allowed;
    });
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
