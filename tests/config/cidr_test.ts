import assert from "node:assert/strict";
import { cidrContains, parseCidr, parseIp } from "../../src/config/cidr.ts";

Deno.test("parseIp() accepts the standard IPv4 and IPv6 text forms", async (t) => {
  const cases: [string, number[]][] = [
    ["1.2.3.4", [1, 2, 3, 4]],
    ["0.0.0.0", [0, 0, 0, 0]],
    ["::", new Array(16).fill(0)],
    ["::1", [...new Array(15).fill(0), 1]],
    ["2001:db8::1", [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]],
    ["fe80::", [0xfe, 0x80, ...new Array(14).fill(0)]],
    ["::ffff:1.2.3.4", [...new Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4]],
    ["1:2:3:4:5:6:7:8", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
    ["1:2:3:4:5:6:1.2.3.4", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]],
  ];
  for (const [text, bytes] of cases) {
    await t.step(text, () => assert.deepEqual([...parseIp(text)!.bytes], bytes));
  }
});

Deno.test("parseIp() rejects malformed addresses", async (t) => {
  for (
    const text of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3.a",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "12345::",
      "::1.2.3.4:1",
      "fe80::1%eth0",
      "g::1",
    ]
  ) await t.step(JSON.stringify(text), () => assert.equal(parseIp(text), undefined));
});

Deno.test("parseCidr() parses prefixes and clears host bits", () => {
  const block = parseCidr("10.1.2.3/8")!;
  assert.deepEqual({ family: block.family, bytes: [...block.bytes], prefix: block.prefix }, {
    family: 4,
    bytes: [10, 0, 0, 0],
    prefix: 8,
  });
  assert.equal(parseCidr("::1")!.prefix, 128);
  assert.equal(parseCidr("1.2.3.4")!.prefix, 32);
  for (const bad of ["1.2.3.4/33", "::/129", "1.2.3.4/", "1.2.3.4/a", "1.2.3.4/-1", "x/8"]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

Deno.test("cidrContains() matches addresses inside the prefix only", async (t) => {
  const cases: [string, string, boolean][] = [
    ["10.0.0.0/8", "10.255.1.2", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["192.168.1.0/25", "192.168.1.127", true],
    ["192.168.1.0/25", "192.168.1.128", false],
    ["0.0.0.0/0", "8.8.8.8", true],
    ["1.2.3.4", "1.2.3.4", true],
    ["1.2.3.4", "1.2.3.5", false],
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["10.0.0.0/8", "::ffff:10.1.1.1", true],
    ["10.0.0.0/8", "::ffff:11.1.1.1", false],
    ["::ffff:0:0/96", "1.2.3.4", true],
    ["::1", "127.0.0.1", false],
    ["10.0.0.0/8", "not-an-ip", false],
  ];
  for (const [cidr, ip, expected] of cases) {
    await t.step(
      `${cidr} ∋ ${ip} = ${expected}`,
      () => assert.equal(cidrContains(parseCidr(cidr)!, ip), expected),
    );
  }
});
