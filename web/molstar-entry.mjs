// The part of Mol* the viewer's page uses, bundled by scripts/build-viewer (esbuild) into
// src/difffit/viewer/static/molstar/molstar.js as the global `molstar` (no React UI, and of
// the extensions only MolViewSpec, to open the view.mvsj files of results: a smaller script
// that starts faster than Mol*'s prebuilt viewer).
import { PluginContext } from 'molstar/lib/mol-plugin/context.js';
import { DefaultPluginSpec } from 'molstar/lib/mol-plugin/spec.js';
import { PluginConfig } from 'molstar/lib/mol-plugin/config.js';
import { StateTransforms } from 'molstar/lib/mol-plugin-state/transforms.js';
import { Structure, StructureElement, StructureProperties } from 'molstar/lib/mol-model/structure.js';
import { PLUGIN_VERSION } from 'molstar/lib/mol-plugin/version.js';
import { PluginSpec } from 'molstar/lib/mol-plugin/spec.js';
import { MolViewSpec } from 'molstar/lib/extensions/mvs/behavior.js';
import { loadMVS } from 'molstar/lib/extensions/mvs/load.js';
import { MVSData } from 'molstar/lib/extensions/mvs/mvs-data.js';

export const version = PLUGIN_VERSION;
export const lib = {
    plugin: { PluginContext, DefaultPluginSpec, PluginConfig, StateTransforms },
    structure: { Structure, StructureElement, StructureProperties },
    // a plugin that opens .mvsj adds PluginSpec.Behavior(mvs.MolViewSpec) to its spec
    mvs: { loadMVS, MVSData, MolViewSpec, PluginSpec },
};
