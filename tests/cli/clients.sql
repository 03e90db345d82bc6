-- clients.sql: rows for tests/cli/clients.t, one per status the tool shows.
-- Run on a migrated registry: sqlite3 HOME/server/registry.db < clients.sql
-- SPKIs are two hex digits then 62 zeros (hex(zeroblob(31))).
INSERT INTO clients (id, spki, name, subject, sans, state, policy,
  conflict_of, first_seen, last_seen, changed) VALUES
 ('1111aaaa00000001', 'a1' || hex(zeroblob(31)), 'dev-p1', 'CN = dev-p1',
  'DNS:dev-p1.example, IP:192.0.2.1', 'pending', 'pairing', NULL,
  strftime('%s', 'now'), strftime('%s', 'now'), strftime('%s', 'now')),
 ('1111aaaa00000002', 'a2' || hex(zeroblob(31)), 'dev-p2', 'CN = dev-p2',
  NULL, 'pending', 'pairing', NULL,
  strftime('%s', 'now') - 1000, strftime('%s', 'now') - 1000,
  strftime('%s', 'now') - 1000),
 ('2222bbbb00000001', 'b1' || hex(zeroblob(31)), 'dev-a1', 'CN = dev-a1',
  'DNS:dev-a1.example', 'approved', 'trusted-ca', NULL,
  strftime('%s', 'now'), strftime('%s', 'now'), strftime('%s', 'now')),
 ('2222bbbb00000002', 'b2' || hex(zeroblob(31)), 'dev-a2', 'CN = dev-a2',
  NULL, 'approved', 'admin', NULL, 1000, 2000, 2000),
 ('2222bbbb00000003', 'b3' || hex(zeroblob(31)), 'dev-a3', 'CN = dev-a3',
  NULL, 'approved', 'admin', NULL, 1000, 0, 1000),
 ('3333cccc00000001', 'c1' || hex(zeroblob(31)), 'dev-a1', 'CN = dev-a1',
  'DNS:dev-a1.example', 'pending', 'pairing', '2222bbbb00000001',
  strftime('%s', 'now'), strftime('%s', 'now'), strftime('%s', 'now')),
 ('4444dddd00000001', 'd1' || hex(zeroblob(31)), 'dev-r1', 'CN = dev-r1',
  NULL, 'revoked', 'admin', NULL, 1000, 2000, 2000),
 ('5555eeee00000001', 'e1' || hex(zeroblob(31)),
  'evil' || char(27) || '[31m', 'CN = evil', NULL, 'pending', 'pairing', NULL,
  strftime('%s', 'now'), strftime('%s', 'now'), strftime('%s', 'now'));
