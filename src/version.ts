/** The package's name and version, for the User-Agent header. Kept in sync with package.json by a test. */
export const PACKAGE_NAME = 'express-transactionale'
export const PACKAGE_VERSION = '0.1.0'
