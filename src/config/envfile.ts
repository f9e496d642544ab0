/**
 * The shape of an env file, line by line (pure). dotenv.parse, which the loader uses for the
 * values, silently drops a line it cannot read (`FULL_BACKUP_SCHEDULE weekly`, a stray word): a
 * setting the user wrote would then not be applied and nothing would say so. This scanner finds
 * every assignment with its line number, and every line that is not one.
 *
 * Accepted, as dotenv reads them: blank lines, `#` comments, `KEY=VALUE` and `export KEY=VALUE`,
 * with a value quoted in ', " or ` that may span lines.
 */

export interface EnvAssignment {
  name: string;
  /** 1-based line of the assignment (the first line of a multi-line value). */
  line: number;
}

export interface EnvBadLine {
  line: number;
  /**
   * The line's first word when it looks like a key name (shown in the error), else null: the line
   * may hold a secret typed without its key, so it is never echoed whole.
   */
  word: string | null;
}

export interface EnvScan {
  assignments: EnvAssignment[];
  bad: EnvBadLine[];
}

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][\w.-]*)\s*=(.*)$/;
const WORD = /^\s*(?:export\s+)?([A-Za-z_][\w.-]*)/;

export function scanEnvText(text: string): EnvScan {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const assignments: EnvAssignment[] = [];
  const bad: EnvBadLine[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const m = ASSIGNMENT.exec(line);
    if (!m) {
      bad.push({ line: i + 1, word: WORD.exec(line)?.[1] ?? null });
      continue;
    }
    assignments.push({ name: m[1]!, line: i + 1 });
    // A quoted value that does not close on its line goes on until the line that closes it.
    const value = m[2]!.trimStart();
    const quote = value[0];
    if (quote === '"' || quote === "'" || quote === '`') {
      if (closes(value.slice(1), quote)) continue;
      let j = i + 1;
      while (j < lines.length && !closes(lines[j]!, quote)) j++;
      // A quote that never closes is part of a one-line value, as dotenv reads it.
      if (j < lines.length) i = j;
    }
  }
  return { assignments, bad };
}

/** Whether `s` contains `quote` not escaped by a backslash. */
function closes(s: string, quote: string): boolean {
  for (let k = 0; k < s.length; k++) {
    if (s[k] === '\\') k++;
    else if (s[k] === quote) return true;
  }
  return false;
}
