/** `npm run build` step: writes the console's browser bundle into dist/ (the package ships no sources). */
import { writeAppModule } from '../services/console/bundle.js';

await writeAppModule(process.argv[2] ?? 'dist/services/console');
