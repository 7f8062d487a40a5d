/**
 * The one logging seam of local mode. The runner, watcher and main print through it so tests can capture or
 * silence output instead of scraping the console.
 */
export interface LocalLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Prints to stdout/stderr with a short time prefix, which is what a person watching `npm start` wants. */
export function consoleLogger(prefix = ''): LocalLogger {
  const stamp = () => new Date().toISOString().slice(11, 23);
  return {
    info: (m) => console.log(`${stamp()} ${prefix}${m}`),
    warn: (m) => console.warn(`${stamp()} ${prefix}WARN ${m}`),
    error: (m) => console.error(`${stamp()} ${prefix}ERROR ${m}`),
  };
}

export const silentLogger: LocalLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** Keeps every line in memory; handy in tests that want to show what happened when an assertion fails. */
export function memoryLogger(): LocalLogger & { readonly lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`INFO ${m}`),
    warn: (m) => lines.push(`WARN ${m}`),
    error: (m) => lines.push(`ERROR ${m}`),
  };
}
