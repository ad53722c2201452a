// Resolves *.localhost to 127.0.0.1, as RFC 6761 asks and as browsers and systemd-resolved do;
// glibc without nss-myhostname does not, so the tests preload this (node --require).
const dns = require('dns');
const original = dns.lookup;
dns.lookup = function (hostname, options, callback) {
  if (typeof options === 'function') { callback = options; options = {}; }
  if (typeof hostname === 'string' && (hostname === 'localhost' || hostname.endsWith('.localhost'))) {
    const opts = typeof options === 'number' ? { family: options } : (options || {});
    if (opts.all) return process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }]);
    return process.nextTick(callback, null, '127.0.0.1', 4);
  }
  return original.call(dns, hostname, options, callback);
};
