/**
 * The launchers of the languages' programs: what the interpreter runs first inside a sandbox, in
 * the program's own language. Each does what the sandbox runtime asks of every execution (see
 * LaunchProtocol), then runs the program as the interpreter would run it from stdin.
 */

/** What a launcher must do before the program, as the sandbox runtime (packages/sandbox) defines it. */
export interface LaunchProtocol {
  /** The FIFO a launcher writes one byte to as its execution starts, waking the sandbox's init. */
  tickFifo: string;
  /** Executions run under user ids from here up, one per execution... */
  firstExecutionUid: number;
  /** ...and below this one (executions from here up keep their background processes). */
  firstKeeperUid: number;
  /**
   * bash, on one line ending in `; `, that does what every launcher does first: wake the init, wait
   * until nothing of an earlier execution is left, and set the umask. Shell programs follow it on
   * the same line (their line numbers stay as written).
   */
  shellPrelude: string;
}

/**
 * Runs the program (its argument, else what follows its size on stdin) the way `python3 -` would
 * (`__main__`, `<stdin>`), leaving stdin to the program, after what every launcher does first
 * (see LaunchProtocol.shellPrelude). stdout and stderr stay unbuffered, as PYTHONUNBUFFERED made
 * them (what a program killed at its timeout had written is kept), but write whole: a single
 * write to the exec's pipe can return short inside gVisor, and Python's own unbuffered stream
 * drops the rest without an error. The launcher's frames are left out of tracebacks.
 */
export function pythonLauncher(p: LaunchProtocol): string {
  return `
def _harombe_launch():
    import io, os, sys
    try:
        fd = os.open(${JSON.stringify(p.tickFifo)}, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"x")
        os.close(fd)
    except OSError:
        pass
    os.umask(0o002)
    me = os.getuid()
    for _ in range(200):
        earlier = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                uid = os.stat("/proc/" + entry).st_uid
                if ${p.firstExecutionUid} <= uid < ${p.firstKeeperUid} and uid != me:
                    with open("/proc/%s/stat" % entry, "rb") as stat:
                        earlier = b") Z " not in stat.read()
            except OSError:
                pass
            if earlier:
                break
        if not earlier:
            break
        import time
        time.sleep(0.01)
    if len(sys.argv) > 1:
        source = sys.argv[1]
    else:
        header = b""
        while not header.endswith(b"\\n"):
            byte = os.read(0, 1)
            if not byte:
                break
            header += byte
        size, parts = int(header or b"0"), []
        while size > 0:
            part = os.read(0, min(size, 1 << 20))
            if not part:
                break
            parts.append(part)
            size -= len(part)
        source = b"".join(parts)

    class Whole(io.RawIOBase):
        def __init__(self, fd):
            self.fd = fd
        def writable(self):
            return True
        def fileno(self):
            return self.fd
        def isatty(self):
            return os.isatty(self.fd)
        def write(self, data):
            view, done = memoryview(data).cast("B"), 0
            while done < len(view):
                done += os.write(self.fd, view[done:])
            return done

    for fd, name in ((1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        new = io.TextIOWrapper(Whole(fd), encoding=old.encoding, errors=old.errors, write_through=True)
        setattr(sys, name, new)
        setattr(sys, "__%s__" % name, new)
    hook = sys.excepthook
    def excepthook(kind, value, tb):
        while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
            tb = tb.tb_next
        hook(kind, value.with_traceback(tb) if isinstance(value, BaseException) else value, tb)
    sys.excepthook = excepthook
    sys.argv[:] = ["-"]
    main = sys.modules["__main__"].__dict__
    del main["_harombe_launch"]
    main["__file__"] = "<stdin>"
    exec(compile(source, "<stdin>", "exec", dont_inherit=True), main)
_harombe_launch()
`;
}

/**
 * Runs the program (its argument, else what follows its size on stdin) the way `node -` would (a
 * script named [stdin] in the global scope, with require from the working directory), leaving
 * stdin to the program. Everything of its own stays inside a function, out of the program's scope.
 */
export function nodeLauncher(p: LaunchProtocol): string {
  return `(() => {
  const fs = require('fs');
  try {
    const fd = fs.openSync(${JSON.stringify(p.tickFifo)}, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.writeSync(fd, 'x');
    fs.closeSync(fd);
  } catch {}
  process.umask(0o002);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const me = process.getuid();
  const earlier = () =>
    fs.readdirSync('/proc').some((entry) => {
      if (!/^\\d+$/.test(entry)) return false;
      try {
        const uid = fs.statSync('/proc/' + entry).uid;
        return uid >= ${p.firstExecutionUid} && uid < ${p.firstKeeperUid} && uid !== me &&
          !fs.readFileSync('/proc/' + entry + '/stat', 'latin1').includes(') Z ');
      } catch {
        return false;
      }
    });
  for (let i = 0; i < 200 && earlier(); i += 1) Atomics.wait(pause, 0, 0, 10);
  const read = (buffer, offset, length) => {
    for (;;) {
      try {
        return fs.readSync(0, buffer, offset, length, null);
      } catch (error) {
        if (error.code !== 'EAGAIN') throw error;
        Atomics.wait(pause, 0, 0, 5);
      }
    }
  };
  let source = process.argv[1];
  if (source === undefined) {
    let header = '';
    const byte = Buffer.alloc(1);
    while (!header.endsWith('\\n') && read(byte, 0, 1) === 1) header += byte.toString('latin1');
    const framed = Buffer.alloc(Number.parseInt(header, 10) || 0);
    for (let offset = 0; offset < framed.length; ) {
      const n = read(framed, offset, framed.length - offset);
      if (n === 0) break;
      offset += n;
    }
    source = framed.toString('utf8');
  }
  process.argv.splice(1, Infinity, '-');
  globalThis.__filename = '[stdin]';
  require('vm').runInThisContext(source, { filename: '[stdin]', displayErrors: true });
})();`;
}

/**
 * The shell's launcher for a program on stdin (see shellPrelude for one given as an argument):
 * reads the program's size, then the program, and runs it, leaving the rest of stdin to it.
 */
export function shellStdinLauncher(p: LaunchProtocol): string {
  return `${p.shellPrelude}IFS= read -r __harombe_size; __harombe_program=$(head -c "$__harombe_size"); eval "$__harombe_program"`;
}
