/** `npm run dashboards`: writes grafana/dashboards/*.json from the code in grafana/src. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderDashboards } from './src/dashboards';

for (const [file, json] of Object.entries(renderDashboards())) {
  writeFileSync(join(__dirname, 'dashboards', file), json);
  process.stdout.write(`wrote grafana/dashboards/${file}\n`);
}
