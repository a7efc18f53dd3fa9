import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total?: number): void;
  stop(): void;
}

const MB = 1024 * 1024;

/**
 * A byte-count progress display on stderr (stdout stays clean for --json): a live bar on a terminal,
 * otherwise one line per tenth, so logs of a CI job or a redirected run stay readable.
 */
export function byteProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream,
      format: `${label} [{bar}] {percentage}% {doneMb}/{totalMb} MB`,
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      update(done, total) {
        const t = total ?? done;
        const payload = { doneMb: (done / MB).toFixed(0), totalMb: (t / MB).toFixed(0) };
        if (!started) {
          bar.start(t, done, payload);
          started = true;
        } else {
          bar.setTotal(t);
          bar.update(done, payload);
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let lastTenth = -1;
  return {
    update(done, total) {
      if (!total) return;
      const tenth = Math.floor((10 * done) / total);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        stream.write(`${label}: ${tenth * 10}% (${(done / MB).toFixed(0)}/${(total / MB).toFixed(0)} MB)\n`);
      }
    },
    stop() {},
  };
}
