// The part of Mol* the viewer's page uses, bundled by scripts/build-viewer (esbuild) into
// src/difffit/viewer/static/molstar/molstar.js as the global `molstar` (no React UI, no
// extensions: a smaller script that starts faster than Mol*'s prebuilt viewer).
import { PluginContext } from 'molstar/lib/mol-plugin/context.js';
import { DefaultPluginSpec } from 'molstar/lib/mol-plugin/spec.js';
import { PluginConfig } from 'molstar/lib/mol-plugin/config.js';
import { StateTransforms } from 'molstar/lib/mol-plugin-state/transforms.js';
import { Structure, StructureElement, StructureProperties } from 'molstar/lib/mol-model/structure.js';
import { PLUGIN_VERSION } from 'molstar/lib/mol-plugin/version.js';

export const version = PLUGIN_VERSION;
export const lib = {
    plugin: { PluginContext, DefaultPluginSpec, PluginConfig, StateTransforms },
    structure: { Structure, StructureElement, StructureProperties },
};
