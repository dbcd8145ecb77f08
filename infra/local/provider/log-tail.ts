// The last lines of a log file, for error messages about processes that failed.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export function tail(file: string, lines = 20, maxBytes = 8192): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const size = fstatSync(fd).size;
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return buf.toString("utf8").split("\n").slice(-lines - 1).join("\n").trimEnd();
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
