//! Running v2ray: finding the binary, writing its config, starting it under
//! the guard shell on free ports, waiting until it listens, killing it.

use super::*;

/// The v2ray binary and how it wants its config file.
#[derive(Debug)]
pub(super) struct V2rayBin {
    pub(super) path: PathBuf,
    /// v4: `v2ray -config FILE`; v5: `v2ray run -c FILE`.
    pub(super) run_subcommand: bool,
}

impl V2rayBin {
    /// Located once per process; the error is kept as text and repeated.
    pub(super) fn locate() -> io::Result<&'static V2rayBin> {
        static BIN: OnceLock<Result<V2rayBin, (io::ErrorKind, String)>> = OnceLock::new();
        BIN.get_or_init(|| Self::find().map_err(|e| (e.kind(), e.to_string())))
            .as_ref()
            .map_err(|(kind, msg)| io::Error::new(*kind, msg.clone()))
    }

    pub(super) fn find() -> io::Result<V2rayBin> {
        let path = match std::env::var_os(BIN_ENV).filter(|p| !p.is_empty()) {
            Some(path) => {
                let path = PathBuf::from(path);
                if !is_executable(&path) {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{BIN_ENV}={} is not an executable file", path.display()),
                    ));
                }
                path
            }
            None => path_dirs()
                .into_iter()
                .map(|dir| dir.join("v2ray"))
                .chain([PathBuf::from("/usr/bin/v2ray")])
                .find(|path| is_executable(path))
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!(
                            "v2ray not found on PATH nor at /usr/bin/v2ray: install the Debian \
                             package v2ray (`apt-get install v2ray`) or set {BIN_ENV}"
                        ),
                    )
                })?,
        };
        // v4 knows `-version`; v5 answers it with an error and wants `v2ray version`.
        let output = Command::new(&path)
            .arg("-version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| annotate(e, format!("cannot run {} -version", path.display())))?;
        let version = String::from_utf8_lossy(&output.stdout);
        let run_subcommand = !(output.status.success() && version.contains("V2Ray 4."));
        Ok(V2rayBin {
            path,
            run_subcommand,
        })
    }

    pub(super) fn args(&self, config: &Path) -> Vec<std::ffi::OsString> {
        if self.run_subcommand {
            vec!["run".into(), "-c".into(), config.into()]
        } else {
            vec!["-config".into(), config.into()]
        }
    }
}

/// One v2ray under the wrapper shell.
pub(super) struct V2rayProcess {
    /// Write end of the shell's stdin; closing it kills v2ray.
    pub(super) stdin: Option<ChildStdin>,
    pub(super) child: Child,
    /// Config and log; the shell removes it after a requested stop.
    pub(super) dir: TempDir,
}

pub(super) enum StartError {
    /// v2ray could not bind one of its ports; retryable.
    PortTaken(io::Error),
    Other(io::Error),
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Other(e)
    }
}

impl V2rayProcess {
    pub(super) fn start(
        bin: &V2rayBin,
        role: &str,
        config: &Value,
        ports: &[u16],
    ) -> Result<V2rayProcess, StartError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("subvisor-v2ray-{role}-"))
            .tempdir()
            .map_err(|e| annotate(e, "cannot create a temp dir for v2ray"))?;
        let config_path = dir.path().join("config.json");
        let text = serde_json::to_vec_pretty(config).map_err(io::Error::other)?;
        std::fs::write(&config_path, text)
            .map_err(|e| annotate(e, format!("cannot write {}", config_path.display())))?;

        let log_path = dir.path().join("v2ray.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| annotate(e, format!("cannot create {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| annotate(e, "cannot duplicate the log file handle"))?;
        let mut cmd = Command::new("sh");
        cmd.process_group(0)
            .current_dir(dir.path())
            .arg("-c")
            .arg(crate::GUARD_SCRIPT)
            .arg("sh")
            .arg(dir.path())
            .arg("KILL")
            .arg(&bin.path)
            .args(bin.args(&config_path))
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err);
        let mut child = cmd
            .spawn()
            .map_err(|e| annotate(e, format!("cannot spawn {}", bin.path.display())))?;
        let stdin = child.stdin.take();
        // From here on, dropping `proc` kills v2ray.
        let mut proc = V2rayProcess { stdin, child, dir };
        proc.wait_ready(ports)?;
        Ok(proc)
    }

    /// Waits until every port accepts TCP while v2ray keeps running.
    pub(super) fn wait_ready(&mut self, ports: &[u16]) -> Result<(), StartError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pending: Vec<u16> = ports.to_vec();
        loop {
            pending.retain(|&port| {
                TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    Duration::from_millis(200),
                )
                .is_err()
            });
            self.check_alive()?;
            if pending.is_empty() {
                // A port may accept because someone else holds it while v2ray
                // is just failing to bind it: make sure v2ray is still up.
                sleep(Duration::from_millis(50));
                self.check_alive()?;
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::Other(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "v2ray did not accept connections on 127.0.0.1 ports {pending:?} within \
                         {}s; log:\n{}",
                        READY_TIMEOUT.as_secs(),
                        self.log()
                    ),
                )));
            }
            sleep(Duration::from_millis(20));
        }
    }

    pub(super) fn check_alive(&mut self) -> Result<(), StartError> {
        let Some(exit) = self
            .child
            .try_wait()
            .map_err(|e| annotate(e, "cannot poll the v2ray process"))?
        else {
            return Ok(());
        };
        let log = self.log();
        let err = io::Error::other(format!("v2ray exited during startup ({exit}); log:\n{log}"));
        Err(if log.contains("address already in use") {
            StartError::PortTaken(err)
        } else {
            StartError::Other(err)
        })
    }

    pub(super) fn log_path(&self) -> PathBuf {
        self.dir.path().join("v2ray.log")
    }

    pub(super) fn log(&self) -> String {
        const MAX: usize = 4096;
        let path = self.log_path();
        let mut text = String::new();
        match File::open(&path).and_then(|mut f| f.read_to_string(&mut text)) {
            Ok(_) if text.trim().is_empty() => "(empty)".to_owned(),
            Ok(_) => {
                let start = text.len().saturating_sub(MAX);
                let start = (start..text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(text.len());
                text[start..].to_owned()
            }
            Err(e) => format!("(cannot read {}: {e})", path.display()),
        }
    }

    pub(super) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Closes the pipe (the shell `SIGKILL`s v2ray) and reaps the shell.
    pub(super) fn stop(mut self) {
        self.stop_inner();
    }

    pub(super) fn stop_inner(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(5)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
    }
}

impl Drop for V2rayProcess {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
