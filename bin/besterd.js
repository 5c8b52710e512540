#!/usr/bin/env node
// Installed entry point: the daemon. Runs the TypeScript source directly (Node >= 24 strips types).
import '../src/cli/besterd.ts';
