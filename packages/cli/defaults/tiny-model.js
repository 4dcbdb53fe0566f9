module.exports = require('@leantune/testing').tinyModelPlugin;
