// One line describing why a zod schema refused an input, for answers that reach a user. A body
// with thousands of bad entries would otherwise get an error message as large as the body:
// the first few problems say what is wrong, the count says how much more there is.

/** How many problems a message names; the rest are counted. */
export const MAX_REPORTED_ISSUES = 10;

interface Issue {
  path: readonly PropertyKey[];
  message: string;
}

/** "path: message; ..." for at most MAX_REPORTED_ISSUES issues, then "and N more problems". */
export function describeIssues(issues: readonly Issue[], rootName = '(body)'): string {
  const shown = issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => `${formatPath(issue.path, rootName)}: ${clip(issue.message, 200)}`);
  const more = issues.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; and ${more} more problem${more === 1 ? '' : 's'}` : '');
}

/** A message or key may quote the input, which has no size limit of its own. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function formatPath(path: readonly PropertyKey[], rootName: string): string {
  if (path.length === 0) return rootName;
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(clip(String(key), 64))}]`;
  }
  return out;
}
