import type { Report } from '../report.js';

export default async function core(report: Report): Promise<void> {
  void report;
}
