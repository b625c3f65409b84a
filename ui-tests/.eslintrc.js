// The browser tests are type-checked against their own tsconfig (Playwright, Node), not the
// extension's, which covers src/ only.
module.exports = {
  parserOptions: {
    project: 'tsconfig.json',
    tsconfigRootDir: __dirname
  }
};
