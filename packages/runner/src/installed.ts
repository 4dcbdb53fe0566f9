import {
  errorMessage,
  loadPlugin,
  pluginPackagesFor,
  type Toolkit,
} from '@leantune/core';
import { createToolkit } from './toolkit';

/**
 * Without a config: every plugin a config in the current folder could enable (installed in
 * the project, or beside the CLI except its workspace's private packages), so
 * `leantune plugins` and `leantune schema` describe exactly that.
 */
export async function fromInstalled(cwd: string, warn: (message: string) => void): Promise<Toolkit> {
  const packages = pluginPackagesFor(cwd);
  const uses = [];
  for (const pkg of packages) {
    const where = `installed package ${pkg}`;
    try {
      uses.push(await loadPlugin(`module:${pkg}`, cwd, where));
    } catch (err) {
      // One broken install must not hide the others from a listing; it is reported instead.
      warn(`skipped ${pkg}: ${errorMessage(err)}`);
    }
  }
  return createToolkit({ plugins: uses });
}
