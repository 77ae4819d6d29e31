// Reads a JSON array of URLs on stdin and writes, for each, what GS1's digital-link.js makes of
// it: whether it parses, whether it is valid (grammar and check digit), and its parts. Used by
// verify's TestDigitalLinkToolkit; the module directory is the first argument.
const path = require('path');
const { DigitalLink } = require(path.join(process.argv[2], 'digital-link.js'));
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((url) => {
    try {
      const dl = DigitalLink(url);
      return {
        url,
        parsed: true,
        valid: dl.isValid(),
        domain: dl.getDomain(),
        identifier: dl.getIdentifier(),
        keyQualifiers: dl.getKeyQualifiers(),
        attributes: dl.getAttributes(),
        linkType: dl.getLinkType() || '',
        webURI: dl.toWebUriString(),
      };
    } catch (e) {
      return { url, parsed: false, valid: false, error: String(e.message) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
