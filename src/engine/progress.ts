/**
 * Byte-count progress on a stream (stderr in the CLI, so stdout stays clean for --json), shared by
 * downloads and imports.
 */
import cliProgress from 'cli-progress';

/** 3 significant digits in decimal units, as download sizes are usually quoted ("1.3 GB"). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

/**
 * Progress of one file. On a terminal a redrawn bar; otherwise (logs, CI, pipes) a plain line per
 * 10 % crossed, or every 10 s when the size is unknown, so a log shows progress without flooding.
 */
export class ByteProgress {
  private bar: cliProgress.SingleBar | undefined;
  private startedAt = 0;
  private startBytes = 0;
  private total: number | undefined;
  private nextTenth = 0;
  private lastLine = 0;

  /** `verb` names the work in plain-text logs ("downloading", "writing"). */
  constructor(private readonly out: NodeJS.WritableStream | false, private readonly name: string, private readonly verb = 'downloading') {}

  private line(text: string): void {
    if (this.out) this.out.write(`${this.name}: ${text}\n`);
  }

  private speed(done: number): string {
    const s = (Date.now() - this.startedAt) / 1000;
    return s > 0 ? `${formatBytes(Math.round((done - this.startBytes) / s))}/s` : '';
  }

  private payload(done: number): Record<string, string> {
    return { file: this.name, got: formatBytes(done), size: this.total === undefined ? '?' : formatBytes(this.total), speed: this.speed(done) };
  }

  note(text: string): void {
    this.stop();
    this.line(text);
  }

  start(from: number, total: number | undefined, resuming: boolean): void {
    this.stop();
    this.startedAt = Date.now();
    this.lastLine = this.startedAt;
    this.startBytes = from;
    this.total = total;
    this.nextTenth = total ? Math.floor((from * 10) / total) + 1 : 0;
    if (!this.out) return;
    if ((this.out as { isTTY?: boolean }).isTTY) {
      this.bar = new cliProgress.SingleBar({
        stream: this.out,
        format: total === undefined ? '{file} {got} | {speed}' : '{file} [{bar}] {percentage}% | {got} / {size} | {speed}',
        barsize: 30,
        fps: 5,
        hideCursor: false,
        linewrap: false,
      });
      this.bar.start(total ?? 0, total === undefined ? 0 : from, this.payload(from));
      return;
    }
    const of = total === undefined ? '' : ` of ${formatBytes(total)}`;
    this.line(resuming ? `resuming at ${formatBytes(from)}${of}` : `${this.verb}${total === undefined ? '' : ` ${formatBytes(total)}`}`);
  }

  update(done: number): void {
    if (!this.out) return;
    if (this.bar) {
      this.bar.update(this.total === undefined ? 0 : done, this.payload(done));
      return;
    }
    if (this.total) {
      const tenth = Math.floor((done * 10) / this.total);
      if (tenth >= this.nextTenth && tenth < 10) {
        this.nextTenth = tenth + 1;
        this.line(`${tenth * 10}% (${formatBytes(done)} of ${formatBytes(this.total)}, ${this.speed(done)})`);
      }
    } else if (Date.now() - this.lastLine >= 10_000) {
      this.lastLine = Date.now();
      this.line(`${formatBytes(done)} (${this.speed(done)})`);
    }
  }

  finish(size: number, verdict: string): void {
    if (this.bar) this.bar.update(this.total === undefined ? 0 : size, this.payload(size));
    this.stop();
    this.line(`done, ${formatBytes(size)}; ${verdict}`);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
