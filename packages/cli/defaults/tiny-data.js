module.exports = require('@leantune/testing').tinyDataPlugin;
