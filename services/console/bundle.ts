/**
 * The browser app, bundled with esbuild when the console starts (once per process, in memory):
 * ui/main.ts with Preact, htm and elkjs, and ui/style.css. Nothing is fetched at run time and no
 * separate build step exists: `npm ci` installs everything the bundle needs. The package ships no
 * sources, so `npm run build` writes the bundle as a module (ui-bundle.js) that an installed
 * console serves instead.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../shared/errors.js';

/** The app's files, as served. */
export interface AppBundle {
  js: string;
  css: string;
}

const UI_DIR = fileURLToPath(new URL('./ui/', import.meta.url));

let built: Promise<AppBundle> | undefined;

/** Builds the app once; later calls share the result. */
export function appBundle(): Promise<AppBundle> {
  built ??= loadApp().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}

async function loadApp(): Promise<AppBundle> {
  if (existsSync(`${UI_DIR}main.ts`)) return buildApp();
  const prebuilt = (await import(new URL('./ui-bundle.js', import.meta.url).href)) as AppBundle;
  return { js: prebuilt.js, css: prebuilt.css };
}

/** Writes the bundle as `ui-bundle.js` (+ `.d.ts`) in `dir`, for a build without the sources. */
export async function writeAppModule(dir: string): Promise<void> {
  const app = await buildApp();
  await mkdir(dir, { recursive: true });
  const body = `export const js = ${JSON.stringify(app.js)};\nexport const css = ${JSON.stringify(app.css)};\n`;
  await writeFile(join(dir, 'ui-bundle.js'), body);
  await writeFile(join(dir, 'ui-bundle.d.ts'), 'export declare const js: string;\nexport declare const css: string;\n');
}

/** Bundles the app from ui/. */
export async function buildApp(): Promise<AppBundle> {
  const esbuild = await import('esbuild');
  let result: Awaited<ReturnType<typeof esbuild.build>>;
  try {
    result = await esbuild.build({
      entryPoints: [`${UI_DIR}main.ts`],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      legalComments: 'none',
      logLevel: 'silent',
    });
  } catch (err) {
    throw new ConfigError(`console: cannot bundle the browser app from ${UI_DIR}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const js = result.outputFiles?.[0]?.text ?? '';
  const css = await readFile(`${UI_DIR}style.css`, 'utf8');
  return { js, css };
}
