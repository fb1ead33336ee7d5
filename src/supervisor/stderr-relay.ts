// A command's stderr passes through the supervisor, which keeps the last part of it to recognise
// sandbox denials (denials/stderr-denials.ts). stdout is never touched: it stays the descriptor
// the agent gave. The command gets a pipe, or a new pty when its stderr was a terminal (so it
// still sees a terminal on fd 2; size and settings copied, output processing left to the real
// terminal). The relay writes everything to the original stderr in order; at the command's exit
// the supervisor drains what is buffered and waits for it to be written before reporting the exit,
// so the agent never misses stderr output. Background processes that keep stderr open are relayed
// until they close it.
import fs from 'node:fs';
import tty from 'node:tty';
import type { NativeAddon } from '../native/addon.js';

const TAIL_BYTES = 64 * 1024;

export class StderrRelay {
  /** The descriptor to give the command as fd 2; the supervisor closes its copy after spawning. */
  readonly commandFd: number;
  readonly isPty: boolean;
  private readonly readFd: number;
  private tailBuf = Buffer.alloc(0);
  private writes: Promise<void> = Promise.resolve();
  private watchId: number | undefined;
  private ended = false;
  private closedByUs = false;

  constructor(private readonly addon: NativeAddon, private readonly originalFd: number) {
    this.isPty = tty.isatty(originalFd);
    const [r, w] = this.isPty ? addon.makePtyLike(originalFd) : addon.makePipe();
    this.readFd = r;
    this.commandFd = w;
    this.watchId = addon.watchReadable(r, () => this.pump());
  }

  /** Reads whatever is buffered now and queues it for the original stderr. */
  private pump(): void {
    if (this.ended) return;
    for (;;) {
      const chunk = this.addon.readAvailable(this.readFd);
      if (chunk === null) {
        this.end();
        return;
      }
      if (chunk.length === 0) return;
      this.keepTail(chunk);
      this.forward(chunk);
    }
  }

  private keepTail(chunk: Buffer): void {
    this.tailBuf = Buffer.concat([this.tailBuf, chunk]);
    if (this.tailBuf.length > TAIL_BYTES) this.tailBuf = this.tailBuf.subarray(this.tailBuf.length - TAIL_BYTES);
  }

  /** Blocking writes happen on libuv's threadpool, in order, so a slow reader never stalls nono. */
  private forward(chunk: Buffer): void {
    const fd = this.originalFd;
    this.writes = this.writes.then(
      () =>
        new Promise<void>((resolve) => {
          const writeAll = (off: number) => {
            if (off >= chunk.length) return resolve();
            fs.write(fd, chunk, off, chunk.length - off, null, (err, n) => (err ? resolve() : writeAll(off + n)));
          };
          writeAll(0);
        }),
    );
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.watchId !== undefined) this.addon.unwatch(this.watchId);
    this.watchId = undefined;
    this.maybeClose();
  }

  /** Everything the command wrote so far, decoded (invalid UTF-8 replaced): for denial detection. */
  tail(): string {
    return this.tailBuf.toString('utf8');
  }

  /** At the command's exit: take what is buffered, and wait until it reached the original stderr. */
  async drain(): Promise<void> {
    this.pump();
    await this.writes;
  }

  /** One line from nono to the command's stderr, after everything the command wrote. */
  async say(line: string): Promise<void> {
    this.forward(Buffer.from(line.endsWith('\n') ? line : `${line}\n`));
    await this.writes;
  }

  /** Clears the remembered output before a re-run, so its denials are judged on their own. */
  resetTail(): void {
    this.tailBuf = Buffer.alloc(0);
  }

  /**
   * The command is finished with. The relay keeps running for background writers (until they
   * close), then closes both its descriptors.
   */
  release(): void {
    this.closedByUs = true;
    this.maybeClose();
  }

  /** The command never started: close everything now (the original stderr included). */
  abort(): void {
    if (this.watchId !== undefined) this.addon.unwatch(this.watchId);
    this.watchId = undefined;
    this.ended = true;
    this.closedByUs = true;
    this.addon.closeFd(this.commandFd);
    this.addon.closeFd(this.readFd);
    this.addon.closeFd(this.originalFd);
  }

  private maybeClose(): void {
    if (!this.ended || !this.closedByUs) return;
    void this.writes.then(() => {
      this.addon.closeFd(this.readFd);
      this.addon.closeFd(this.originalFd);
    });
  }
}
