const preset = require('./jest.preset.js');

module.exports = {
  ...preset,
  roots: ['<rootDir>/packages', '<rootDir>/plugins', '<rootDir>/tools', '<rootDir>/e2e'],
  // Two cores: one worker per core; heavy tensor tests would fight otherwise.
  maxWorkers: 2,
  testTimeout: 60000,
};
