"""The web viewer: ``difffit view RESULTS_DIR`` serves a page (Mol* for 3D) on this machine to
inspect, compare, save and zero fits, and to fit again into the working map.

:class:`~difffit.viewer.workspace.Workspace` holds the state over one results folder;
:class:`~difffit.viewer.server.ViewerServer` serves it over HTTP (127.0.0.1, token-protected);
:mod:`difffit.viewer.display` computes what is shown (display-sized maps, point clouds).
"""

from difffit.viewer.server import ViewerServer, molstar_available
from difffit.viewer.workspace import Workspace

__all__ = ["ViewerServer", "Workspace", "molstar_available"]
