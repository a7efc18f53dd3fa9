/**
 * Where a job's pictures live: the result file (one picture, or a grid of several) and, for a grid,
 * each picture beside it, so U and V buttons start from the exact pixels and not a cut of the grid.
 */
export function picturePath(resultPath: string, count: number, index: number): string {
  if (count <= 1) return resultPath;
  return resultPath.replace(/(\.png)?$/, `.${index}.png`);
}

export function picturePaths(resultPath: string, count: number): string[] {
  return Array.from({ length: Math.max(1, count) }, (_, i) => picturePath(resultPath, count, i + 1));
}
