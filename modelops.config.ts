/**
 * Project configuration. Every field is documented in docs/config.md; omitted fields take the defaults listed there.
 */
import { defineConfig } from './lib/config';

export default defineConfig({
  project: 'modelops',
  stage: 'dev',
  registry: {
    maxArtifactBytes: 512 * 1024 * 1024,
    incomingExpirationDays: 14,
    noncurrentVersionExpirationDays: 90,
  },
  retention: { logDays: 365, accessLogDays: 365 },
  release: { reservedConcurrency: 5 },
  // alarmEmail: 'oncall@example.com',
  models: [
    { name: 'breast-cancer', target: 'lambda', owner: 'ml-platform', riskTier: 'medium' },
    { name: 'credit-risk', target: 'lambda', owner: 'ml-platform', riskTier: 'high' },
  ],
});
