// Reads a JSON array of Digital Link URLs on stdin and writes, for each, the compressed form
// GS1's digital-link.js makes of it (optimisations and other key=value pairs on). Used by
// verify's TestDigitalLinkCompressedByToolkit; the module directory is the first argument.
const path = require('path');
const { Utils } = require(path.join(process.argv[2], 'digital-link.js'));
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((url) => {
    try {
      return { url, compressed: Utils.compressWebUri(url) };
    } catch (e) {
      return { url, error: String(e.message) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
