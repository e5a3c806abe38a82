/** One line of `weave status` in Weave's aligned "Label: value" style. */
export function statusRow(label: string, value: string): string {
  return `${label.padStart(16)}: ${value}`;
}
