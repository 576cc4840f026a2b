/** Sizes as Heroku prints them: `12.3M`, `740K`, `2.1G` (powers of 1024). */
export function formatSize(bytes: number): string {
  const K = 1024;
  if (bytes < K) return `${bytes}B`;
  if (bytes < K * K) return `${Math.round(bytes / K)}K`;
  if (bytes < K * K * K) return `${(bytes / (K * K)).toFixed(1)}M`;
  return `${(bytes / (K * K * K)).toFixed(1)}G`;
}
