// InworldFace's blendshape matching, which needs no Unity: run under mono
// against the stub UnityEngine types (a stub Mesh carries the names a test
// gives it) and the real library (the ARKit names come from
// iw_blendshape_name). The same rules as the Godot face's (face.rs).
using System;
using Inworld;
using Inworld.Unity;
using UnityEngine;

public static class InworldFaceTests
{
    static int failures;

    static void Expect(bool condition, string what)
    {
        if (condition) return;
        failures++;
        Console.WriteLine("FAIL " + what);
    }

    public static int Main()
    {
        // Case, separators and the usual prefixes do not matter; a short
        // name keeps its "bs".
        Expect(InworldFace.Key("blendShape1.jawOpen") == "jawopen", "after the last '.'");
        Expect(InworldFace.Key("ARKit_JawOpen") == "jawopen", "ARKit_ prefix");
        Expect(InworldFace.Key("BS_tongueOut") == "tongueout", "BS_ prefix");
        Expect(InworldFace.Key("Mouth-Smile Left") == "mouthsmileleft", "separators");
        Expect(InworldFace.Key("bsx") == "bsx", "a short name keeps its prefix");

        var mesh = new Mesh();
        mesh.blendShapeNames = new[]
        {
            "Basis", "blendShape1.jawOpen", "ARKit_MouthClose", "eye_blink_left",
            "BS_tongueOut", "Mouth-Smile-Left", "Mouth_Open_Wide",
        };
        var map = InworldFace.MapBlendshapes(mesh, new[] { "mouthFunnel=Mouth_Open_Wide" });
        Expect(map.Length == 52, "one entry per ARKit blendshape");
        Expect(map[17] == 1, "jawOpen: " + map[17]);
        Expect(map[18] == 2, "mouthClose: " + map[18]);
        Expect(map[0] == 3, "eyeBlinkLeft: " + map[0]);
        Expect(map[51] == 4, "tongueOut: " + map[51]);
        Expect(map[23] == 5, "mouthSmileLeft: " + map[23]);
        Expect(map[19] == 6, "mouthFunnel, renamed: " + map[19]);
        Expect(map[24] == -1, "mouthSmileRight is not on this mesh");
        int found = 0;
        foreach (var j in map) if (j >= 0) found++;
        Expect(found == 6, "six found: " + found);

        // A mesh named exactly as ARKit names them maps one to one.
        var exact = new Mesh();
        exact.blendShapeNames = new string[52];
        for (int i = 0; i < 52; i++) exact.blendShapeNames[i] = InworldPlayback.BlendshapeName(i);
        map = InworldFace.MapBlendshapes(exact, null);
        for (int i = 0; i < 52; i++) Expect(map[i] == i, exact.blendShapeNames[i] + ": " + map[i]);

        Console.WriteLine(failures == 0 ? "unity face: OK" : "unity face: " + failures + " FAILED");
        return failures;
    }
}
