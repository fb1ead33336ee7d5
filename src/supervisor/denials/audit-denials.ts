// Landlock's own denial records (Linux >= 6.15, ABI 7) as the exact source of what a command was
// refused, where the kernel offers them: kernel audit must already be on (nono never switches a
// system-wide setting by itself) and the records readable through the audit multicast group
// (CAP_AUDIT_READ: root). Not the kernel log: there, records are rate-limited and dropped when no
// audit daemon runs (measured here: "kauditd_printk_skb: N callbacks suppressed"). A record names the blocked right, the path (for a creation, the
// directory), and the Landlock domain; each command runs in a domain of its own, allocated by the
// command's own process, so the domain ties every record to one command.
import type { NativeAddon } from '../../native/addon.js';
import type { Denial, DenialOp } from './types.js';

const BLOCKERS: Record<string, DenialOp> = {
  'fs.read_file': 'read',
  'fs.read_dir': 'list',
  'fs.write_file': 'write',
  'fs.truncate': 'write',
  'fs.execute': 'execute',
  'fs.make_reg': 'create',
  'fs.make_dir': 'create',
  'fs.make_sym': 'create',
  'fs.make_fifo': 'create',
  'fs.make_sock': 'create',
  'fs.make_char': 'create',
  'fs.make_block': 'create',
  'fs.remove_file': 'delete',
  'fs.remove_dir': 'delete',
  'fs.refer': 'rename',
  'net.connect_tcp': 'connect',
  'net.bind_tcp': 'bind',
};

/** A record's text: "audit(TIME:SERIAL): fields". */
const RECORD = /^audit\([\d.]+:(\d+)\): (.*)$/s;

function field(text: string, name: string): string | undefined {
  const m = new RegExp(`(?:^| )${name}=("(?:[^"]*)"|\\S+)`).exec(text);
  if (!m) return undefined;
  return m[1]!.startsWith('"') ? m[1]!.slice(1, -1) : m[1];
}

export class AuditDenialSource {
  private readonly allocatedBy = new Map<string, number>(); // domain -> pid that entered it
  private readonly byDomain = new Map<string, Denial[]>();

  private constructor(private readonly addon: NativeAddon, private readonly fd: number) {
    this.drain(); // what the kernel logged before this session is not ours
    this.byDomain.clear();
    this.allocatedBy.clear();
  }

  /** A source when Landlock records can be read here, otherwise undefined (stderr is used). */
  static open(addon: NativeAddon, abi: number): AuditDenialSource | undefined {
    if (abi < 7) return undefined;
    const status = addon.auditStatus();
    if (!status || status.enabled < 1) return undefined;
    try {
      return new AuditDenialSource(addon, addon.openAuditMulticast());
    } catch {
      return undefined;
    }
  }

  /** Reads every record the kernel has now (called when a command exits, before deciding). */
  drain(): void {
    for (;;) {
      let chunk: Buffer | null;
      try {
        chunk = this.addon.readAvailable(this.fd);
      } catch {
        return;
      }
      if (!chunk || chunk.length === 0) return;
      // Netlink messages: u32 length (header included), u16 type, u16 flags, u32 seq, u32 pid.
      for (let off = 0; off + 16 <= chunk.length; ) {
        const len = chunk.readUInt32LE(off);
        if (len < 16 || off + len > chunk.length) break;
        const type = chunk.readUInt16LE(off + 4);
        this.take(type, chunk.subarray(off + 16, off + len).toString('utf8').replace(/\0+$/, ''));
        off += (len + 3) & ~3;
      }
    }
  }

  private take(recordType: number, text: string): void {
    const m = RECORD.exec(text);
    if (!m) return;
    const [, , fields] = m;
    const type = String(recordType);
    const line = `type=${type} ${text}`;
    const domain = field(fields!, 'domain');
    if (!domain) return;
    if (type === '1424' && field(fields!, 'status') === 'allocated') {
      this.allocatedBy.set(domain, Number(field(fields!, 'pid')));
    } else if (type === '1423') {
      const blockers = (field(fields!, 'blockers') ?? '').split(',');
      const op = blockers.map((b) => BLOCKERS[b]).find(Boolean);
      if (!op) return; // scopes (signals, abstract sockets): nothing a grant could change
      const path = field(fields!, 'path');
      const port = field(fields!, 'dest') ?? field(fields!, 'dport');
      const list = this.byDomain.get(domain) ?? [];
      const d: Denial = { op, path, port: port ? Number(port) : undefined, evidence: line, source: 'audit' };
      if (!list.some((x) => x.op === d.op && x.path === d.path && x.port === d.port)) list.push(d);
      this.byDomain.set(domain, list);
    }
  }

  /** The denials recorded for the domain the command with this pid entered; forgets them. */
  takeFor(commandPid: number): Denial[] {
    this.drain();
    const out: Denial[] = [];
    for (const [domain, pid] of this.allocatedBy) {
      if (pid !== commandPid) continue;
      out.push(...(this.byDomain.get(domain) ?? []));
      this.byDomain.delete(domain);
      this.allocatedBy.delete(domain);
    }
    return out;
  }

  close(): void {
    this.addon.closeFd(this.fd);
  }
}
