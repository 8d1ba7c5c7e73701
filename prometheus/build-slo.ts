/** `npm run slo-rules`: writes prometheus/rules/slo.yml from prometheus/slo/objectives.ts. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSloRules } from './slo/rules';

writeFileSync(join(__dirname, 'rules', 'slo.yml'), renderSloRules());
process.stdout.write('wrote prometheus/rules/slo.yml\n');
