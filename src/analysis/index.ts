// Public surface of the canary analysis module.
export { CanaryAnalyzer, type Observation, type Release, type ReleaseHistory } from './analyzer.ts';
export { defaultAnalysisSettings, resolveSettings, type AnalysisSettings } from './config.ts';
export { defaultLayout, makeLayout, type BucketLayout } from './histogram.ts';
export type { MetricName, MetricVerdict, Outcome, Verdict } from './verdict.ts';
export { ReleaseSample } from './window.ts';
