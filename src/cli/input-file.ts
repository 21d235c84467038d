// Reading a file the CLI was pointed at: only a regular file (a symlink is followed to one), and no larger than
// the command can use. Pointed at /dev/zero, a FIFO or a folder, a plain read never ends or fails late (10 GB of
// RSS for `policy replay`); here it is refused at once, naming why. The file is opened once and its descriptor is
// what is checked and read, so a path swapped between a check and the read cannot slip past it.
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";

const MIB = 1024 * 1024;
// O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one; opened at once, it is refused below.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;
/** A manifest (the API's request bodies are bounded at 1 MiB too) or a JWKS. */
export const SMALL_INPUT_BYTES = 4 * MIB;
/** An audit export or an evidence bundle: up to what one JavaScript string can hold. */
export const LARGE_INPUT_BYTES = 512 * MIB;

/** The text of `path`, or an Error saying why it is not read. */
export async function readInputFile(path: string, maxBytes: number): Promise<string> {
  const file = await open(path, OPEN_FLAGS);
  try {
    refuseUnlessReadable(await file.stat(), maxBytes);
    return await file.readFile("utf8");
  } finally {
    await file.close();
  }
}

/** readInputFile for the synchronous commands. */
export function readInputFileSync(path: string, maxBytes: number): string {
  const fd = openSync(path, OPEN_FLAGS);
  try {
    refuseUnlessReadable(fstatSync(fd), maxBytes);
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

function refuseUnlessReadable(stat: Stats, maxBytes: number): void {
  if (!stat.isFile()) throw new Error("not a regular file");
  if (stat.size > maxBytes)
    throw new Error(`${stat.size} bytes, more than the ${maxBytes / MIB} MiB this command reads`);
}
