/**
 * Reads a bundle's `reference.csv` (header row = column names, one row per reference example) into rows of cell
 * text for `computeBaseline`. Cells stay text: typing them is the baseline's job, per declared feature.
 */
import { CsvError, parse } from 'csv-parse/sync';
import { ReferenceDataError } from './baseline';

export interface ReferenceCsv {
  /** Column names in file order. */
  readonly columns: readonly string[];
  /** One record per data row, keyed by column name. */
  readonly rows: readonly Readonly<Record<string, string>>[];
}

/**
 * Parses reference CSV text (RFC 4180 quoting, optional byte-order mark, blank lines skipped). Throws
 * `ReferenceDataError` for malformed CSV, ragged rows, a missing/blank/duplicate header, or when one of
 * `requiredColumns` (usually the manifest's feature names) is absent.
 *
 * @example
 * const { rows } = parseReferenceCsv(text, manifest.inputs.features.map((f) => f.name));
 */
export function parseReferenceCsv(text: string, requiredColumns: readonly string[] = []): ReferenceCsv {
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true });
  } catch (err) {
    if (err instanceof CsvError) {
      const hint =
        err.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH'
          ? 'every row needs exactly as many cells as the header has columns'
          : 'fix the CSV syntax (quote cells that contain commas, quotes or line breaks)';
      throw new ReferenceDataError(`reference CSV is malformed: ${err.message}; ${hint}`);
    }
    throw err;
  }
  const [header, ...data] = records;
  if (!header) {
    throw new ReferenceDataError('reference CSV is empty; the first line must name the columns');
  }
  const seen = new Set<string>();
  header.forEach((column, i) => {
    if (column.trim() === '') {
      throw new ReferenceDataError(`reference CSV header: column ${i + 1} has no name; name every column`);
    }
    if (seen.has(column)) {
      throw new ReferenceDataError(
        `reference CSV header: column "${column}" appears twice; rename one`,
        column,
      );
    }
    seen.add(column);
  });
  const absent = requiredColumns.filter((c) => !seen.has(c));
  if (absent.length > 0) {
    throw new ReferenceDataError(
      `reference CSV has no column ${absent.map((c) => `"${c}"`).join(', ')}; ` +
        `add one column per declared feature, headed by the feature name (found: ${header.join(', ')})`,
      absent.length === 1 ? absent[0] : undefined,
    );
  }
  // Object.fromEntries defines own properties, so a column named "__proto__" stays a plain column.
  const rows = data.map((record) => Object.fromEntries(header.map((column, i) => [column, record[i] ?? ''])));
  return { columns: header, rows };
}
